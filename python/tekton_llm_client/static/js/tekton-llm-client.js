// placeholder: see issue 7
