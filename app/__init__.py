"""The edges: the `ragqa` command line and the Streamlit chat UI. Nothing imports `app`."""
