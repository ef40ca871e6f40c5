"""Video Swin Transformer (Liu et al., CVPR 2022) in the transformers style."""
