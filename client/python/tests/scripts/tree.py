"""A command job with a child process of its own, running until stopped."""

import subprocess
import sys
import time
from pathlib import Path

from expsvc import run

child = subprocess.Popen(["sleep", "300"])
Path(run.params["pid_file"]).write_text(f"{__import__('os').getpid()} {child.pid}\n")
print("started", flush=True)
while True:
    time.sleep(0.2)
