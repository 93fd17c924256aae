"""The terminal client: ``mosaic chat``, ``mosaic conversations``, ``mosaic search``.

``frames`` types the server's frames; ``client`` speaks the chat socket protocol
(docs/websocket-protocol.md) and knows nothing of Textual; ``app`` is a thin full-screen view
over it; ``commands`` wires both into ``mosaic``.
Everything here talks to the server over HTTP(S)/WS(S) only, so it works from any machine.
"""
