package web

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/views"
)

// EmailPublic are the email routes' dependencies: tracking, unsubscribe,
// SendGrid events and sender confirmation. A nil SendGrid verifier (no
// SENDGRID_WEBHOOK_PUBLIC_KEY) makes POST /sendgrid/events refuse everything.
type EmailPublic struct {
	Tracking *tracking.Service
	SendGrid *tracking.SendGridVerifier
	Senders  *tracking.SenderVerifier
}

// maxSendGridBody bounds one event batch (SendGrid batches by size/time;
// batches are far below this).
const maxSendGridBody = 5 << 20

// transparentGIF is a 1×1 transparent GIF (43 bytes).
var transparentGIF = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

// emailPublicRoutes registers the public email routes: no session, each
// request authenticated by its signed token or SendGrid's signature.
func (s *server) emailPublicRoutes(r *gin.Engine) {
	if s.Email.Tracking == nil {
		return
	}
	r.GET("/t/o/:token", s.trackOpen)
	r.HEAD("/t/o/:token", s.trackOpen)
	r.GET("/t/c/:token", s.trackClick)
	r.HEAD("/t/c/:token", s.trackClick)
	r.GET("/u/:token", s.unsubscribePage)
	r.POST("/u/:token", s.unsubscribe)
	r.POST("/u/:token/resubscribe", s.resubscribe)
	r.POST("/sendgrid/events", s.sendgridEvents)
	if s.Email.Senders != nil {
		r.GET("/email/verify/:token", s.confirmSender)
	}
}

func trackingRequest(c *gin.Context) tracking.Request {
	return tracking.Request{Method: c.Request.Method, UserAgent: c.Request.UserAgent(), IP: c.ClientIP()}
}

func (s *server) trackOpen(c *gin.Context) {
	err := s.Email.Tracking.Open(c.Request.Context(), c.Param("token"), trackingRequest(c))
	if errors.Is(err, tracking.ErrBadToken) {
		c.String(http.StatusBadRequest, "invalid tracking link")
		return
	}
	if err != nil && !errors.Is(err, tracking.ErrNotFound) {
		s.Log.Error("tracking: open", "err", err)
	}
	c.Header("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	c.Header("Pragma", "no-cache")
	c.Header("Expires", "0")
	c.Data(http.StatusOK, "image/gif", transparentGIF)
}

func (s *server) trackClick(c *gin.Context) {
	target, err := s.Email.Tracking.Click(c.Request.Context(), c.Param("token"), trackingRequest(c))
	switch {
	case errors.Is(err, tracking.ErrBadToken):
		s.publicPage(c, http.StatusBadRequest, views.PublicMessage{Lang: "en", Title: "Link not valid", Tone: "critical",
			Lines: []string{"This link is not valid. It may have been copied incompletely."}})
		return
	case errors.Is(err, tracking.ErrNotFound):
		s.publicPage(c, http.StatusNotFound, views.PublicMessage{Lang: "en", Title: "Link not found", Tone: "critical",
			Lines: []string{"This link doesn't lead anywhere any more."}})
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, target)
}

func (s *server) publicPage(c *gin.Context, status int, m views.PublicMessage) {
	c.Header("X-Robots-Tag", "noindex")
	c.Header("Referrer-Policy", "no-referrer")
	s.render(c, status, views.PublicMessagePage(m))
}

func (s *server) unsubView(c *gin.Context, status int, state string, r tracking.Recipient, action string) {
	lang := views.PickLang(r.Locale, c.GetHeader("Accept-Language"))
	s.publicPage(c, status, views.UnsubscribeView{Lang: lang, State: state, ShopName: r.ShopName,
		Email: r.MaskedEmail, Action: action}.Message())
}

// unsubscribeError answers a bad or dead token with the localised 400 page.
func (s *server) unsubscribeError(c *gin.Context, err error) {
	if errors.Is(err, tracking.ErrBadToken) || errors.Is(err, tracking.ErrNotFound) {
		s.unsubView(c, http.StatusBadRequest, views.UnsubBadLink, tracking.Recipient{}, "")
		return
	}
	s.fail(c, err)
}

func (s *server) unsubscribePage(c *gin.Context) {
	tok := c.Param("token")
	r, err := s.Email.Tracking.Recipient(c.Request.Context(), tok)
	if err != nil {
		s.unsubscribeError(c, err)
		return
	}
	if r.Unsubscribed {
		s.unsubView(c, http.StatusOK, views.UnsubDone, r, "/u/"+tok+"/resubscribe")
		return
	}
	s.unsubView(c, http.StatusOK, views.UnsubAsk, r, "/u/"+tok)
}

// unsubscribe serves the page's button and RFC 8058 one-click POSTs from
// mail clients (body "List-Unsubscribe=One-Click"): both unsubscribe at once.
func (s *server) unsubscribe(c *gin.Context) {
	tok := c.Param("token")
	source := "unsubscribe"
	body, _ := io.ReadAll(io.LimitReader(c.Request.Body, 4096))
	if strings.Contains(string(body), "List-Unsubscribe=One-Click") {
		source = "one_click"
	}
	r, err := s.Email.Tracking.Unsubscribe(c.Request.Context(), tok, source)
	if err != nil {
		s.unsubscribeError(c, err)
		return
	}
	s.unsubView(c, http.StatusOK, views.UnsubDone, r, "/u/"+tok+"/resubscribe")
}

func (s *server) resubscribe(c *gin.Context) {
	tok := c.Param("token")
	r, err := s.Email.Tracking.Resubscribe(c.Request.Context(), tok)
	if err != nil {
		s.unsubscribeError(c, err)
		return
	}
	s.unsubView(c, http.StatusOK, views.UnsubResubscribed, r, "/u/"+tok)
}

// sendgridEvents verifies the Signed Event Webhook over the raw body before
// anything is parsed or stored, then applies the batch in one transaction
// (SendGrid's volume per shop is modest; a failure answers 500 and SendGrid
// retries the batch, which dedupes on sg_event_id).
func (s *server) sendgridEvents(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxSendGridBody+1))
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "could not read body"})
		return
	}
	if len(body) > maxSendGridBody {
		c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": "batch larger than 5 MB"})
		return
	}
	if err := s.Email.SendGrid.Verify(body, c.GetHeader(tracking.SignatureHeader), c.GetHeader(tracking.TimestampHeader), s.Now()); err != nil {
		c.JSON(http.StatusUnauthorized, gin.H{"error": err.Error()})
		return
	}
	sum, err := s.Email.Tracking.ProcessEvents(c.Request.Context(), body)
	if errors.Is(err, tracking.ErrBadPayload) {
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if sum.Unknown+sum.OtherShop+sum.Unmatched+sum.Invalid > 0 {
		s.Log.Warn("sendgrid events ignored", "unknown", sum.Unknown, "other_shop", sum.OtherShop,
			"unmatched", sum.Unmatched, "invalid", sum.Invalid)
	}
	c.JSON(http.StatusOK, gin.H{"received": sum.Received, "processed": sum.Processed, "duplicates": sum.Duplicates,
		"unknown": sum.Unknown, "other_shop": sum.OtherShop, "unmatched": sum.Unmatched, "invalid": sum.Invalid})
}

func (s *server) confirmSender(c *gin.Context) {
	_, err := s.Email.Senders.Confirm(c.Request.Context(), c.Param("token"))
	if errors.Is(err, tracking.ErrSenderToken) {
		s.publicPage(c, http.StatusBadRequest, views.PublicMessage{Lang: "en", Title: "Link not valid", Tone: "critical",
			Lines: []string{"This confirmation link is not valid, has expired, or the sender email was changed since it was sent.",
				"Open Cartwheel › Settings and send a new confirmation email."}})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.publicPage(c, http.StatusOK, views.PublicMessage{Lang: "en", Title: "Sender email confirmed", Tone: "success",
		Lines: []string{"Cartwheel can now send your email from this address. You can close this page."}})
}
