"""Data of the course: real MNIST digits and procedurally generated tasks built from them.

Nothing here downloads unless the caller asks for it (``source="torchvision"``).
"""

from attnlib.data.mnist import ink_centres, load_mnist
from attnlib.data.quadrants import place_in_quadrants, quadrant_mnist

__all__ = ["ink_centres", "load_mnist", "place_in_quadrants", "quadrant_mnist"]
