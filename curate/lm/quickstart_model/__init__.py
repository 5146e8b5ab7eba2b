"""The quickstart's LM, trained and shipped as package data (see `curate.lm.shipped`)."""
