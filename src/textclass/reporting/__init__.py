"""The training report and run comparisons: `build.py` reads a run directory and assembles
the report data, `sections/` holds one module per report section, `figures.py` draws,
`render.py` writes Markdown and HTML, `compare.py` sets runs side by side. Torch-free."""
