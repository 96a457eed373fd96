package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/views"
)

// emailAdminRoutes: Settings › Sender verification and Customers › Suppressed.
func (s *server) emailAdminRoutes(app *gin.RouterGroup) {
	if s.Email.Senders != nil {
		app.POST("/settings/sender/verify", s.senderVerify)
	}
	app.GET("/customers/suppressed", s.suppressedPage)
	app.POST("/customers/suppressed/lift", s.suppressionLift)
}

// senderSection describes the sender verification for Settings.
func (s *server) senderSection(ctx context.Context, shopID int64) (views.SenderVerification, error) {
	if s.Email.Senders == nil {
		return views.SenderVerification{}, nil
	}
	st, err := s.Email.Senders.Status(ctx, shopID)
	if err != nil {
		return views.SenderVerification{}, err
	}
	v := views.SenderVerification{Email: st.Email, Verified: st.Verified}
	if st.SentAt != nil {
		v.SentAt = st.SentAt.UTC().Format(time.RFC1123)
	}
	for _, r := range tracking.DNSRecords(st.Email) {
		v.DNS = append(v.DNS, views.DNSRow{Type: r.Type, Host: r.Host, Value: r.Value, Purpose: r.Purpose})
	}
	return v, nil
}

func (s *server) senderVerify(c *gin.Context) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	startErr := s.Email.Senders.Start(ctx, sh.ID)
	v, err := s.senderSection(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	switch {
	case startErr == nil:
		v.Notice = "Confirmation email sent to " + v.Email + ". Open the link in it to start sending."
	case errors.Is(startErr, tracking.ErrNoSenderEmail), errors.Is(startErr, tracking.ErrResendTooSoon):
		status = http.StatusUnprocessableEntity
		v.Error = sentence(startErr)
	default:
		s.Log.Error("sender verification email", "shop", sh.ID, "err", startErr)
		status = http.StatusBadGateway
		v.Error = "We couldn't send the confirmation email just now. Please try again in a few minutes."
	}
	s.render(c, status, views.SenderVerificationSection(v))
}

// sentence turns "tracking: a thing happened" into "A thing happened."
func sentence(err error) string {
	msg := strings.TrimPrefix(err.Error(), "tracking: ")
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

const suppressionPageSize = 50

func (s *server) suppressedPage(c *gin.Context) {
	s.renderSuppressed(c, http.StatusOK, c.Query("after"), "")
}

func (s *server) renderSuppressed(c *gin.Context, status int, after, notice string) {
	sh := currentShop(c)
	rows, err := s.Customers.ListSuppressions(c.Request.Context(), sh.ID, after, suppressionPageSize+1)
	if err != nil {
		s.fail(c, err)
		return
	}
	l := views.SuppressionList{Notice: notice}
	if len(rows) > suppressionPageSize {
		rows = rows[:suppressionPageSize]
		l.Next = rows[len(rows)-1].Email
	}
	for _, r := range rows {
		l.Rows = append(l.Rows, views.SuppressionRow{Email: r.Email, Reason: suppressionReasonLabel(r.Reason), Source: r.Source,
			Since: r.CreatedAt.UTC().Format("2 Jan 2006"), Liftable: r.Reason == customers.SuppressManual})
	}
	s.render(c, status, views.Suppressed(s.page(c, "Suppressed addresses", "customers"), l))
}

func suppressionReasonLabel(r string) string {
	switch r {
	case tracking.ReasonHardBounce, customers.SuppressBounced:
		return "Hard bounce"
	case tracking.ReasonSoftBounces:
		return "Repeated soft bounces"
	case tracking.ReasonComplaint:
		return "Spam complaint"
	case tracking.ReasonDropped:
		return "Invalid address (dropped)"
	case tracking.ReasonUnsubscribed:
		return "Unsubscribed"
	case customers.SuppressManual:
		return "Added manually"
	case customers.SuppressCleaned:
		return "Cleaned (imported)"
	}
	return r
}

func (s *server) suppressionLift(c *gin.Context) {
	sh := currentShop(c)
	addr := c.Query("email")
	err := s.Customers.LiftSuppression(c.Request.Context(), sh.ID, addr)
	switch {
	case errors.Is(err, customers.ErrNotFound):
		c.JSON(http.StatusNotFound, gin.H{"error": "that address is not suppressed"})
	case errors.Is(err, customers.ErrNotLiftable):
		c.JSON(http.StatusUnprocessableEntity, gin.H{"error": "only manual suppressions can be lifted; bounces, complaints and unsubscribes stay"})
	case err != nil:
		s.fail(c, err)
	default:
		s.renderSuppressed(c, http.StatusOK, "", addr+" can be emailed again.")
	}
}
