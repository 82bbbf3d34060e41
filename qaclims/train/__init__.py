"""Training machinery shared by the CAM, IRNet and segmentation stages."""
