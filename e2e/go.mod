module github.com/parleychat/parley/e2e

go 1.26.8

require github.com/parleychat/parley/shared v0.1.0

replace github.com/parleychat/parley/shared => ../shared
