package flows

// tree indexes a definition's steps for the engine: where each step sits,
// so a run can move to the step after it, or into a branch.
type tree struct {
	def  *Definition
	pos  map[string]position
	step map[string]*Step
}

type position struct {
	list  []Step
	index int
}

func newTree(d *Definition) *tree {
	t := &tree{def: d, pos: map[string]position{}, step: map[string]*Step{}}
	var walk func(list []Step)
	walk = func(list []Step) {
		for i := range list {
			t.pos[list[i].ID] = position{list: list, index: i}
			t.step[list[i].ID] = &list[i]
			for b := range list[i].Branches {
				walk(list[i].Branches[b].Steps)
			}
		}
	}
	walk(d.Steps)
	return t
}

// first is the flow's first step ("" when it has none).
func (t *tree) first() string {
	if len(t.def.Steps) == 0 {
		return ""
	}
	return t.def.Steps[0].ID
}

// next is the step after id in its list; "" at the end of a list (branches
// don't rejoin: the run is done).
func (t *tree) next(id string) string {
	p, ok := t.pos[id]
	if !ok || p.index+1 >= len(p.list) {
		return ""
	}
	return p.list[p.index+1].ID
}

// branch is the first step of branch b of step id ("" for an empty branch).
func (t *tree) branch(id string, b int) string {
	s := t.step[id]
	if s == nil || b < 0 || b >= len(s.Branches) || len(s.Branches[b].Steps) == 0 {
		return ""
	}
	return s.Branches[b].Steps[0].ID
}

// has reports whether the definition has a step with this id.
func (t *tree) has(id string) bool { _, ok := t.step[id]; return ok }
