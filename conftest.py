"""pytest at the root: `--doctest-modules` (pyproject.toml) imports every module of the packages
to run its docstring examples; the Streamlit page draws itself when imported, so it is left out."""

collect_ignore = ["app/ui/streamlit_app.py"]
