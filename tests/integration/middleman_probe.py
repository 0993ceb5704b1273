#!/usr/bin/env python3
"""What a client gets from a middleman (CAF BASP) port, for test_up_processes.sh.

usage: middleman_probe.py HOST PORT            plain TCP
       middleman_probe.py HOST PORT CERT KEY   TLS with that certificate

Prints one word:
  basp     the 32-byte header of a BASP server handshake arrived: the peer
           would go on to accept messages (which carry no proof of origin)
  silent   nothing within 2 s (a TLS server waiting for a TLS client)
  refused  the TLS handshake failed or the server closed the connection
"""
import socket
import ssl
import sys

host, port = sys.argv[1], int(sys.argv[2])
sock = socket.create_connection((host, port), timeout=5)
sock.settimeout(2)
try:
    if len(sys.argv) > 4:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the server's side is not under test
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        sock = ctx.wrap_socket(sock)
    got = b""
    while len(got) < 32:
        piece = sock.recv(32 - len(got))
        if not piece:
            print("refused")
            sys.exit(0)
        got += piece
    print("basp")
except socket.timeout:
    print("silent")
except (ssl.SSLError, ConnectionError, OSError):
    print("refused")
