"""Parameters of the synthetic demo datasets (the config's `demo` section)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the four demo datasets; one seed determines every pixel."""

    seed: int = 0
    identities: int = 20  # FF++ ids, paired into train/val/test pairs
    val_pairs: int = 0  # FF++ pairs in the val / test split; 0: FF++'s own proportions (14 % each)
    test_pairs: int = 0
    seconds: float = 5.0  # length of every video
    fps: int = 25
    width: int = 320
    height: int = 240
    dfdc_parts: int = 4  # dfdc_train_part_N folders, each with its own actors
    dfdc_videos_per_part: int = 6  # 1 real : 2 fakes per actor
    celebdf_videos: int = 6  # per Celeb-DF subfolder

    def __post_init__(self) -> None:
        if self.identities < 4 or self.identities % 2:
            raise ValueError(f"identities must be even and >= 4 (FF++ ids come in pairs), got {self.identities}")
        if self.val_pairs < 0 or self.test_pairs < 0 or (self.val_pairs + self.test_pairs) * 2 >= self.identities:
            raise ValueError(f"val_pairs + test_pairs must leave training pairs among {self.identities // 2}")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even for yuv420p, got {self.width}x{self.height}")
        if min(self.dfdc_parts, self.dfdc_videos_per_part, self.celebdf_videos, self.fps) < 1 or self.seconds <= 0:
            raise ValueError(f"counts, fps and seconds must be positive: {self}")

    @property
    def n_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DemoConfig:
        """Build from a `demo` config section; keys that are not parameters (enabled, root, ...) are ignored."""
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        return cls(**{k: type(defaults[k])(v) for k, v in params.items() if k in defaults})
