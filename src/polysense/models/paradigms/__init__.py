"""The architecture paradigms: VSE++, CLIP, ViLBERT, ViLT, ALBEF."""
