// ClientConnection: whether the client of a request being answered is still connected, so a
// request whose client went away frees its slot at once (a non-streaming request writes nothing
// until its end, and a streaming one nothing during a long prefill).
//
// cpp-httplib 0.11 (Debian 12's) gives a handler no access to its socket, so the socket is found
// by its two ends: the descriptor whose local and peer addresses are the request's. A peer that
// closed the connection makes the socket readable with nothing to read (recv peeks 0 bytes).
#pragma once

#include <string>

namespace chunkllm::serve {

class ClientConnection {
 public:
  // The connection from remote_addr:remote_port to local_addr:local_port (as httplib's Request
  // holds them). When it is not found, closed() is always false: never cancel on a guess.
  ClientConnection(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);

  bool found() const { return fd_ >= 0; }
  // True once the peer has closed or reset the connection.
  bool closed() const;

 private:
  int fd_ = -1;
};

}  // namespace chunkllm::serve
