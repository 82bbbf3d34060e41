"""The text side: cleanup of VQA answers into a corpus, and CLIP text features."""
