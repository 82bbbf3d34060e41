"""Visual question answering: the QA-CLIMS question sets and batched BLIP answering."""
