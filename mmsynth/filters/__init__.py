"""Checks over generated samples: each returns kept samples and counted rejections.

``grounding`` compares the objects an answer names with an image's annotations (CHAIR-style);
``annotation_qa`` writes exact questions from the annotations themselves (counts, absences).
"""
