#!/usr/bin/env bash
# Build the documentation site into docs/_build/html (index.html) from this repository, offline.
# Needs only what `pip install -e ".[docs]"` installs; any Sphinx warning fails the build
# (-W --keep-going: every warning is reported first). The gallery (docs/examples/plot_*.py) runs
# during the build. Then `python docs/check_site.py` checks the pages in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")"
export MPLBACKEND=Agg
python -m sphinx -b html -W --keep-going -q -j 1 . _build/html "$@"
echo "docs/build.sh: site written to docs/_build/html/index.html"
