"""The embedded synthetic demo datasets: FF++, DeeperForensics, DFDC and Celeb-DF look-alikes, in the
real datasets' on-disk layouts, rendered from face photos that ship inside installed packages."""
from pipeline.demo.config import DemoConfig
from pipeline.demo.generate import generate

__all__ = ["DemoConfig", "generate"]
