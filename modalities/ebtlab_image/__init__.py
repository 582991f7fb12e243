"""Grayscale images for ebtlab: square patches predicted one after another, on real images offline."""

from ebtlab_image.adapter import ImageDataConfig, ImageModality

__all__ = ["ImageDataConfig", "ImageModality"]
