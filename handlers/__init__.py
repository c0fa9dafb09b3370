"""Lambda handler code shipped by archc (packaged as assets, never imported by the compiler)."""
