"""Works on Hera 5.20+, 6 and 7: the API subset that all of them share."""
