"""group_scale: turn raw uint16 ramps into float ramps in DN per frame, undoing on-board division."""
