"""Conversion scripts: official Microsoft Swin / Google ViT (and timm / transformers) weights
into verified swin-hub repos. The key maps live in `swin_hub.convert`, shared with
`timm.create_model(..., pretrained=True)` and the transformers classes."""
