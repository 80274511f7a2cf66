"""Mg-MRN model parts: backbone pyramid, MgM (RFM), MRM (SCAB), VSD, scores and losses."""
