"""
The command line
================

Every result of the library is a command away: ``particles simulate`` runs and draws a
simulation, ``particles info`` describes any result file. Here the commands run through click's
test runner, as a shell would run them.
"""

import os
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from click.testing import CliRunner

from particles.cli.main import main

os.chdir(tempfile.mkdtemp())
args = "simulate --n 64 --d 3 --beta 1 --kind SA --t-end 20 --seed 0 --method rk4 --dt 0.05"
print(CliRunner().invoke(main, [*args.split(), "--out", "run.npz", "--plot", "run.png"]).output)
print(CliRunner().invoke(main, ["info", "run.npz"]).output)

fig, ax = plt.subplots(figsize=(8, 4))
ax.imshow(mpimg.imread("run.png"))
ax.set_axis_off()
fig.tight_layout()
