package shopifytest

import "strings"

// SetAccessToken makes token the shop's offline access token, as if the app
// had been installed earlier with it (the dev demo shop is seeded with a
// fixed placeholder token). The shop must have been added.
func (s *Server) SetAccessToken(shop, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.shops[strings.ToLower(shop)]; ok {
		st.token = token
	}
}
