package adapters

import "errors"

// ErrClosed is returned by Send and Receive after the adapter was closed.
var ErrClosed = errors.New("adapter closed")

// ErrForbidden is wrapped by the errors of a check that refused a caller
// what it asked for; an HTTP source answers it with 403.
var ErrForbidden = errors.New("forbidden")

// PermanentError marks a failure that retrying cannot fix. The hub sends the
// message to the dead letters with Err as the reason.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that IsPermanent reports true. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether any error in err's chain is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
