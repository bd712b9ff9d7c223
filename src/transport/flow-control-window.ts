/**
 * The HTTP/2 receive window the grpc-js and node-http2 transports advertise, for each stream
 * (SETTINGS_INITIAL_WINDOW_SIZE) and for the connection (a WINDOW_UPDATE on stream 0).
 *
 * HTTP/2's default is 65,535 bytes per stream and per connection: the server may send that much,
 * then waits for the client's WINDOW_UPDATE, which Node sends only as the event loop reads. A
 * SyncLatest of ~1.9 KB records then runs in steps of ~34 records with the server idle whenever
 * our loop is busy. A fixed large window is the most unread data one connection can hold.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;
