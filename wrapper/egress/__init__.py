"""The egress guard: a filtering forward proxy on loopback for the program's HTTP(S) traffic (see proxy)."""
