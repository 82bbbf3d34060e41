"""Dataset readers and writers: VOC 2012, COCO 2014, the synthetic demo, and label PNGs."""
