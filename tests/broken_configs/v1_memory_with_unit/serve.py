print('serve')
