"""dq_init: start the product's DQ from the bad-pixel mask."""
