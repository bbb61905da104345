"""Write the same invalid UTF-8 bytes (see DATA) to stdout and stderr. argv: none."""

import os

DATA = b"\xff\xfe\x00\x80 not utf-8 \xc3\x28 \xed\xa0\x80\n"
os.write(1, DATA)
os.write(2, DATA)
