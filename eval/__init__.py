"""Evaluation: official-compatible answer metrics, retrieval and calibration metrics, reports.

    from eval.score import score_predictions
    from eval.qa_io import load_qa, load_predictions
    result = score_predictions(load_qa(Path("dev.json")), load_predictions(Path("pred.json")))
    round(result.overall.em, 2), round(result.overall.f1, 2)
"""
