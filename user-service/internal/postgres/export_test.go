package postgres

// SearchSQL exposes the search query to the plan test.
var SearchSQL = searchSQL
