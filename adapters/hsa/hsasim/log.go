package hsasim

import (
	"io"
	"log"
)

// discardLog silences net/http's server log (handshake failures of the
// bad-certificate tests are expected).
var discardLog = log.New(io.Discard, "", 0)
