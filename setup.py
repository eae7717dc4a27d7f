"""Only here to ship the interpreter-start hook (fluxfix-autoload.pth) beside the package;
everything else is declared in setup.cfg."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "fluxfix-autoload.pth"


class BuildWithAutoload(build_py):
    def run(self):
        super().run()
        self.copy_file(str(Path(__file__).parent / PTH), str(Path(self.build_lib) / PTH))

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [str(Path(self.build_lib) / PTH)]


setup(cmdclass={"build_py": BuildWithAutoload})
