"""MiniStack's own entry point with the emulator patches installed first (emulator_patches.py).
emulator.py runs this file as the MiniStack process; its configuration is the environment
(GATEWAY_PORT, BIND_HOST, AUTH, …)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import emulator_patches  # noqa: E402
from ministack.app import main  # noqa: E402

emulator_patches.apply()
sys.argv = ["ministack"]
sys.exit(main())
