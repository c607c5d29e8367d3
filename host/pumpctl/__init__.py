"""pumpctl: the OpenITB host command line and client library."""
