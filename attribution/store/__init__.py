"""A compressed gradient store: one pass over a corpus keeps each document's compressed gradient per tracked
layer (`index`), so that new probe sets are scored (`query`) and searched (`search`) without another pass.
`compress` defines the compressions; `memory` plans the index's memory and disk; `arguments` is light."""
