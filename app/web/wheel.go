package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/wheel"
	"github.com/cartwheel/cartwheel/views"
)

// WheelService runs the signup wheel: configuration, spins, stats.
type WheelService interface {
	Config(ctx context.Context, shopID int64, visitorID string, shopifyCustomerID int64) (wheel.Display, error)
	Spin(ctx context.Context, shopID int64, req wheel.SpinRequest) (wheel.Result, error)
	SpinStatus(ctx context.Context, shopID, spinID int64, visitorID string) (wheel.Result, error)
	Get(ctx context.Context, shopID int64) (wheel.Wheel, error)
	Save(ctx context.Context, shopID int64, in wheel.Input) (wheel.Wheel, error)
	Stats(ctx context.Context, shopID int64) (wheel.Stats, error)
}

// maxSpinBody bounds POST /proxy/spin: a few short fields.
const maxSpinBody = 8 << 10

// wheelRoutes serves Admin › Signup wheel and the storefront's
// /proxy/wheel and /proxy/spin.
func (s *server) wheelRoutes(app, proxy *gin.RouterGroup) {
	if s.Wheel == nil {
		p := comingSoonPages[5]
		app.GET(p.path, s.comingSoon(p))
		return
	}
	app.GET("/wheel", s.wheelPage)
	app.POST("/wheel", s.wheelSave)
	app.GET("/wheel/preview", s.wheelPreview)
	app.POST("/wheel/preview", s.wheelPreviewConfig)

	proxy.GET("/wheel", s.proxyWheel)
	proxy.POST("/spin", s.proxySpin)
	proxy.GET("/spin/:id", s.proxySpinStatus)
}

func (s *server) proxyWheel(c *gin.Context) {
	vid := c.Query("visitor_id")
	if vid != "" && !wheel.ValidVisitorID(vid) {
		c.JSON(http.StatusBadRequest, gin.H{"error": "visitor_id must be 8 to 64 letters, digits, - or _"})
		return
	}
	d, err := s.Wheel.Config(c.Request.Context(), currentShop(c).ID, vid, proxyCustomerID(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *server) proxySpin(c *gin.Context) {
	shopID := currentShop(c).ID
	// Each spin subscribes an address and may create a discount code in
	// Shopify: throttled per shopper address and per visitor, on counters
	// every instance shares.
	if !s.limit(c, spinPerIP, strconv.FormatInt(shopID, 10)+":"+clientIP(c)) {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSpinBody)
	var req wheel.SpinRequest
	dec := json.NewDecoder(c.Request.Body)
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": "request body is larger than 8 KB"})
			return
		}
		c.JSON(http.StatusBadRequest, gin.H{"error": "the body must be a JSON object with email, first_name, phone, consent and visitor_id"})
		return
	}
	if wheel.ValidVisitorID(req.VisitorID) && !s.limit(c, spinPerVisitor, strconv.FormatInt(shopID, 10)+":"+req.VisitorID) {
		return
	}
	res, err := s.Wheel.Spin(c.Request.Context(), shopID, req)
	var inErr *wheel.InputError
	switch {
	case errors.As(err, &inErr):
		c.JSON(http.StatusUnprocessableEntity, gin.H{"error": inErr.Message, "field": inErr.Field})
	case errors.Is(err, wheel.ErrAlreadySpun):
		c.JSON(http.StatusConflict, gin.H{"error": "already_spun",
			"message": "You've already spun the wheel with this email. Each email can spin once; check your inbox for your prize."})
	case errors.Is(err, wheel.ErrAlreadySubscribed):
		c.JSON(http.StatusConflict, gin.H{"error": "already_subscribed",
			"message": "This email is already subscribed to our emails, so the wheel is for new subscribers only. Thanks for being with us!"})
	case errors.Is(err, wheel.ErrDailyLimit):
		c.Header("Retry-After", "3600")
		c.JSON(http.StatusTooManyRequests, gin.H{"error": "daily_limit",
			"message": "The wheel has given out all of today's prizes. Please come back tomorrow!"})
	case errors.Is(err, wheel.ErrDisabled):
		c.JSON(http.StatusConflict, gin.H{"error": "wheel_disabled", "message": "The wheel isn't available right now."})
	case err != nil:
		s.fail(c, err)
	default:
		c.JSON(http.StatusOK, res)
	}
}

func (s *server) proxySpinStatus(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		c.JSON(http.StatusNotFound, gin.H{"error": "no such spin"})
		return
	}
	res, err := s.Wheel.SpinStatus(c.Request.Context(), currentShop(c).ID, id, c.Query("visitor_id"))
	if errors.Is(err, wheel.ErrNotFound) {
		c.JSON(http.StatusNotFound, gin.H{"error": "no such spin"})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *server) wheelPage(c *gin.Context) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	w, err := s.Wheel.Get(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	st, err := s.Wheel.Stats(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, views.WheelPage(s.page(c, "Signup wheel", "wheel"),
		wheelForm(wheel.InputFrom(w.Enabled, w.Config), nil, false), wheelStats(st)))
}

// wheelSave stores nothing unless every field is valid; the form comes
// back with each problem next to its field.
func (s *server) wheelSave(c *gin.Context) {
	sh := currentShop(c)
	in := wheelInput(c)
	if in.EmailCode {
		// Codes sent by email go through the sender, which sends nothing
		// until the sender email is confirmed: refuse the option rather
		// than promise shoppers an email that never comes.
		if fe, err := s.senderNeededFor(c, sh.ID, in); err != nil {
			s.fail(c, err)
			return
		} else if fe != nil {
			s.renderWheelForm(c, http.StatusUnprocessableEntity, wheelForm(in, fe, false))
			return
		}
	}
	w, err := s.Wheel.Save(c.Request.Context(), sh.ID, in)
	var fe wheel.FieldErrors
	switch {
	case errors.As(err, &fe):
		s.renderWheelForm(c, http.StatusUnprocessableEntity, wheelForm(in, fe, false))
	case err != nil:
		s.fail(c, err)
	default:
		s.renderWheelForm(c, http.StatusOK, wheelForm(wheel.InputFrom(w.Enabled, w.Config), nil, true))
	}
}

// senderNeededFor returns the form's problems, with one on email_code,
// when the shop's sender email isn't confirmed; nil when it is.
func (s *server) senderNeededFor(c *gin.Context, shopID int64, in wheel.Input) (wheel.FieldErrors, error) {
	if s.Email.Senders == nil {
		return nil, nil
	}
	ok, err := s.Email.Senders.Verified(c.Request.Context(), shopID)
	if err != nil || ok {
		return nil, err
	}
	fe := wheel.FieldErrors{}
	if _, perr := wheel.Parse(in); perr != nil && !errors.As(perr, &fe) {
		return nil, perr
	}
	fe["email_code"] = "Confirm your sender email in Settings first: codes sent by email need it."
	return fe, nil
}

func (s *server) renderWheelForm(c *gin.Context, status int, f views.WheelForm) {
	if c.GetHeader("HX-Request") != "" {
		s.render(c, status, views.WheelFormFragment(f))
		return
	}
	st, err := s.Wheel.Stats(c.Request.Context(), currentShop(c).ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, status, views.WheelPage(s.page(c, "Signup wheel", "wheel"), f, wheelStats(st)))
}

// wheelPreview is the page inside the editor's preview iframe: the real
// storefront widget rendering the saved wheel; the editor then sends each
// edit to it (see admin.js).
func (s *server) wheelPreview(c *gin.Context) {
	w, err := s.Wheel.Get(c.Request.Context(), currentShop(c).ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Framed by the editor, which is itself framed by the Shopify admin:
	// every ancestor must be allowed.
	setFrameAncestors(c, currentShop(c).Domain)
	c.Header("Content-Security-Policy", strings.Replace(c.Writer.Header().Get("Content-Security-Policy"), "frame-ancestors ", "frame-ancestors 'self' ", 1))
	s.render(c, http.StatusOK, views.WheelPreview(wheel.Display{Show: true, Wheel: ptr(wheel.Public(w.ID, w.Config))}, views.StorefrontWheelJS()))
}

// wheelPreviewConfig turns the editor's unsaved form into the widget's
// configuration, for the live preview; nothing is stored.
func (s *server) wheelPreviewConfig(c *gin.Context) {
	cfg, err := wheel.Parse(wheelInput(c))
	var fe wheel.FieldErrors
	if errors.As(err, &fe) {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"error": "some fields need attention", "fields": fe})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, wheel.Display{Show: true, Wheel: ptr(wheel.Public(0, cfg))})
}

func ptr[T any](v T) *T { return &v }

// wheelInput reads the editor's form. Slice fields are parallel lists, one
// entry per row.
func wheelInput(c *gin.Context) wheel.Input {
	labels := c.PostFormArray("slice_label")
	colors := c.PostFormArray("slice_color")
	kinds := c.PostFormArray("slice_kind")
	values := c.PostFormArray("slice_value")
	weights := c.PostFormArray("slice_weight")
	at := func(l []string, i int) string {
		if i < len(l) {
			return l[i]
		}
		return ""
	}
	in := wheel.Input{
		Enabled:  c.PostForm("enabled") != "",
		Headline: c.PostForm("headline"), Subtext: c.PostForm("subtext"), Consent: c.PostForm("consent"),
		Button: c.PostForm("button"), NoPrize: c.PostForm("no_prize"),
		Background: c.PostForm("background"), TextColor: c.PostForm("text_color"),
		ButtonColor: c.PostForm("button_color"), BtnText: c.PostForm("button_text_color"),
		DelaySeconds: c.PostForm("delay_seconds"), ScrollPercent: c.PostForm("scroll_percent"),
		ExitIntent: c.PostForm("exit_intent") != "",
		PagesMode:  c.PostForm("pages_mode"), Paths: c.PostForm("paths"),
		FrequencyDays: c.PostForm("frequency_days"), PrizeExpiryDays: c.PostForm("prize_expiry_days"),
		MinOrder: c.PostForm("min_order"), Cap: c.PostForm("prize_cap"),
		Tab:          c.PostForm("tab") != "",
		DailyCodeCap: c.PostForm("daily_code_cap"), EmailCode: c.PostForm("email_code") != "",
	}
	for i := range labels {
		in.Slices = append(in.Slices, wheel.SliceInput{Label: labels[i], Color: at(colors, i), PrizeKind: at(kinds, i),
			PrizeValue: at(values, i), Weight: at(weights, i)})
	}
	return in
}

func wheelForm(in wheel.Input, errs wheel.FieldErrors, saved bool) views.WheelForm {
	f := views.WheelForm{
		Enabled: in.Enabled, Headline: in.Headline, Subtext: in.Subtext, Consent: in.Consent, Button: in.Button,
		NoPrize: in.NoPrize, Background: in.Background, TextColor: in.TextColor, ButtonColor: in.ButtonColor,
		ButtonTextColor: in.BtnText, DelaySeconds: in.DelaySeconds, ScrollPercent: in.ScrollPercent,
		ExitIntent: in.ExitIntent, PagesMode: in.PagesMode, Paths: in.Paths, FrequencyDays: in.FrequencyDays,
		PrizeExpiryDays: in.PrizeExpiryDays, MinOrder: in.MinOrder, PrizeCap: in.Cap, Tab: in.Tab,
		DailyCodeCap: in.DailyCodeCap, EmailCode: in.EmailCode,
		Errors: map[string]string(errs), Saved: saved, MaxSlices: wheel.MaxSlices,
	}
	// Odds as the merchant typed them: a weight that doesn't parse counts 0.
	weights := make([]wheel.Slice, len(in.Slices))
	for i, s := range in.Slices {
		w, err := strconv.ParseFloat(s.Weight, 64)
		if err == nil && w > 0 {
			weights[i].Weight = w
		}
	}
	pct := wheel.Percentages(weights)
	for i, s := range in.Slices {
		f.Slices = append(f.Slices, views.WheelSlice{Label: s.Label, Color: s.Color, Kind: s.PrizeKind, Value: s.PrizeValue,
			Weight: s.Weight, Percent: fmt.Sprintf("%.1f%%", pct[i])})
	}
	return f
}

func wheelStats(st wheel.Stats) views.WheelStats {
	v := views.WheelStats{
		Impressions: strconv.FormatInt(st.Impressions, 10), ImpressionsKnown: st.ImpressionsKnown,
		Spins: strconv.FormatInt(st.Spins, 10), Signups: strconv.FormatInt(st.Signups, 10),
		CodesIssued: strconv.FormatInt(st.CodesIssued, 10), CodesRedeemed: strconv.FormatInt(st.CodesRedeemed, 10),
		CodesPending: st.CodesPending, CodesFailed: st.CodesFailed, Conversion: "—",
	}
	if r, ok := st.ConversionRate(); ok {
		v.Conversion = fmt.Sprintf("%.1f%%", r)
	}
	return v
}
