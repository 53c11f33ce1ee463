"""Constants shared by the daemon and the client (no imports: any layer may use it)."""

API_VERSION = "1.50"
MIN_API_VERSION = "1.24"
DEFAULT_UNIX_SOCKET = "/var/run/berth.sock"
DEFAULT_HOST = "unix://" + DEFAULT_UNIX_SOCKET
DEFAULT_DATA_ROOT = "/var/lib/berth"
DEFAULT_EXEC_ROOT = "/var/run/berth"
DEFAULT_PIDFILE = "/var/run/berth.pid"
DEFAULT_GROUP = "berth"
DEFAULT_STOP_TIMEOUT = 10

# stdcopy framing: 1 byte stream id, 3 zero bytes, 4 bytes big-endian length.
STDIN = 0
STDOUT = 1
STDERR = 2
STDCOPY_HEADER_SIZE = 8
