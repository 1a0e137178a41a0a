"""mips24_linearity: exact inverse of the electronic nonlinearity for slopes and first differences."""
