module github.com/parleychat/parley/shared

go 1.26.8
