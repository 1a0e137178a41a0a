"""mips24_slope: on-board slope and first-difference words to a float BCD in DN/s with ERR."""
