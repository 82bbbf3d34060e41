"""CAMs: the RITC objective and its region contrastive losses, multi-scale CAM inference, class maps to labels."""
