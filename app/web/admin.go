package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/views"
)

type comingSoonPage struct {
	path, key, title, heading, what string
}

// Pages later work fills in. Each says plainly what will be there; none
// shows invented figures.
var comingSoonPages = []comingSoonPage{
	{"/customers", "customers", "Customers", "Your customers will appear here",
		"Once store sync is set up, every customer from your Shopify store is listed here, searchable, with their orders, consent and email activity."},
	{"/segments", "segments", "Segments", "Segments are on their way",
		"Live groups of customers by what they bought, browsed and opened (VIPs, repeat buyers, people who need a nudge) will be built and listed here."},
	{"/flows", "flows", "Flows", "Automated flows are on their way",
		"Abandoned cart, browse and search abandonment, welcome series, order follow-up, win-back and repeat purchase emails will be switched on here."},
	{"/campaigns", "campaigns", "Campaigns", "Campaigns are on their way",
		"One-off emails to a segment, with scheduling and the revenue each one brought in, will be created and listed here."},
	{"/templates", "templates", "Templates", "Email templates are on their way",
		"Ready-made emails with product blocks, discount codes and your branding, editable with a preview, will be listed here."},
	{"/wheel", "wheel", "Signup wheel", "The signup wheel is on its way",
		"A spin-to-win wheel for your storefront that turns visitors into subscribers with a real discount code will be set up here."},
	{"/reports", "reports", "Reports", "Reports are on their way",
		"Revenue attributed to each email, opens, clicks and unsubscribes will be reported here once emails are being sent."},
}

func (s *server) comingSoon(p comingSoonPage) gin.HandlerFunc {
	return func(c *gin.Context) {
		s.render(c, http.StatusOK, views.ComingSoon(s.page(c, p.title, p.key), p.heading, p.what))
	}
}

// apiSession tells the admin's scripts which shop the token is for.
func (s *server) apiSession(c *gin.Context) {
	sh := currentShop(c)
	c.JSON(http.StatusOK, gin.H{"shop": sh.Domain, "name": sh.Name})
}
