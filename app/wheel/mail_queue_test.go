package wheel_test

import (
	"testing"

	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/wheel"
)

// The code email is a send: it runs on the email queue, never behind an
// import on the default one.
func TestCodeEmailRunsOnTheEmailQueue(t *testing.T) {
	if q := (wheel.EmailCodeArgs{}).InsertOpts().Queue; q != jobs.QueueEmail {
		t.Errorf("code emails queue on %q, want %q", q, jobs.QueueEmail)
	}
}
